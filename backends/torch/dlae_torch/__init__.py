"""dlae's PyTorch backend.

Importing this package does not import torch; the plugin module (``dlae_torch.plugin``)
imports the framework only when the torch backend's builders are requested.
"""
