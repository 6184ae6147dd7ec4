"""CgT-GAN: a ClipCap generator trained against a RoBERTa discriminator with a CLIP reward."""
