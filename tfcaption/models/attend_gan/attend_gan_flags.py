"""``tfcaption.caption`` flags of ATTEND-GAN models."""

from absl import flags

flags.DEFINE_string("attention_dir", None, "ATTEND-GAN models: write, for each image, "
                    "DIR/<image name>.png showing the image with each word's attention map.")

FLAG_NAMES = ("attention_dir",)


def load_options(flag_values):
    """Loader keyword arguments from the parsed flags."""
    return {"attention_dir": flag_values.attention_dir}
