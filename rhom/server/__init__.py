"""rhom.server: a RhoConnect-protocol sync server with Python source adapters."""
