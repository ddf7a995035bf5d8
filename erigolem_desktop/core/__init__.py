"""The Qt-free core of the requestor: wallet, nodes, backends, JSON-RPC, settings, storage."""
