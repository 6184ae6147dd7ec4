"""The gated GRU generator with what it needs to caption: vocabulary, image encoder, defaults."""

from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator
from tfcaption.models.word_captioner import WordCaptioner


class GruCaptioner(WordCaptioner):
    """Captions images (or image features) with a :class:`GatedGruGenerator`
    (arguments: :class:`~tfcaption.models.word_captioner.WordCaptioner`)."""

    model_type = "wgan_gru"
    model_class = GatedGruGenerator

    @property
    def generator(self):
        """The :class:`GatedGruGenerator` (the model)."""
        return self.model
