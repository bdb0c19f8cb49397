"""Scoring a trained model: classification figures, the misclassified gallery, the model card."""
