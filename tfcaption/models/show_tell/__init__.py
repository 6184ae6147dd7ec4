"""Show-and-Tell: pooled CNN (or CLIP) image features → LSTM over words, the merge model of
the Flickr8k notebooks (image vector added to the LSTM outputs) or the original form."""

from tfcaption.models.captioner_family import CaptionerFamily

FAMILY = CaptionerFamily(
    name="show_tell",
    model_types=("show_tell",),
    trainers={"show_tell": "tfcaption.models.show_tell.show_tell_training"},
    loader="tfcaption.models.show_tell.show_tell_dir:load_show_tell",
    saver="tfcaption.models.show_tell.show_tell_dir:save_show_tell",
    description="pooled image features and words through one LSTM (Show-and-Tell merge model)",
)
