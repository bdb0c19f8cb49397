"""What the export stage makes of a trained model: SavedModel and TFLite files, verified against Keras, with the
record (exports.json) and model card that ship beside them. The serving runtime reads the record, never this
package's TensorFlow code."""
