"""ClipCap: a CLIP image embedding, mapped to a prefix of GPT-2 input embeddings, from
which GPT-2 writes the caption (Mokady et al., 2021)."""
