"""Message envelope and event types shared by every face of the hub."""
