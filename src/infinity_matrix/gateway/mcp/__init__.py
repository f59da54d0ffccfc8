"""The Model Context Protocol face: tools, resources and prompts over the hub's services."""
