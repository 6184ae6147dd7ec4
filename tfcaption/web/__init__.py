"""The web demo: a page and a JSON API captioning uploaded images with loaded models
(``python -m tfcaption.serve``)."""
