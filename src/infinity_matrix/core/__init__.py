"""The MCP core layer: framework-free services, domain records and the ports storage implements."""
