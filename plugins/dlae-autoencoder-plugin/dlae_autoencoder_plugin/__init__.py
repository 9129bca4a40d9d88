"""dlae-autoencoder-plugin: the ``AE`` technique, an autoencoder (an FCN whose target is its input)."""

__version__ = "0.1.0"
