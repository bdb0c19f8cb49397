"""Using the model: the exports, the LiteRT runtime, image inputs and the `predict` command."""
