"""The models `train.model` can name, the training loop, and the one place TensorFlow is imported."""
