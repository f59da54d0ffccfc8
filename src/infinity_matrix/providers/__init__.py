"""AI integration layer: providers the hub calls, starting with the local embedding model."""
