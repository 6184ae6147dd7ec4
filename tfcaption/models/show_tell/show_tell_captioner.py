"""The Show-and-Tell model with what it needs to caption: vocabulary, image encoder, defaults."""

from tfcaption.models.show_tell.show_tell_model import ShowTellModel
from tfcaption.models.word_captioner import WordCaptioner


class ShowTellCaptioner(WordCaptioner):
    """Captions images (or pooled image features) with a :class:`ShowTellModel`
    (arguments: :class:`~tfcaption.models.word_captioner.WordCaptioner`)."""

    model_type = "show_tell"
    model_class = ShowTellModel
