"""ViT-GPT2 (Hugging Face VisionEncoderDecoder: ViT encoder, GPT-2 decoder with
cross-attention) in Keras: the model and its checkpoint converter. Not yet a registered
captioner family."""
