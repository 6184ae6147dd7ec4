"""Serving: a captioner as a TensorFlow SavedModel that takes encoded image bytes and
returns caption strings, with every step (image decoding, preprocessing, the image
encoder, decoding, detokenisation) in the graph, so that only TensorFlow is needed to
run it (``tf.saved_model.load`` or TensorFlow Serving)."""
