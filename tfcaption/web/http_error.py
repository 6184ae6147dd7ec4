"""An error the web app answers with an HTTP status and a JSON message."""


class HttpError(Exception):
    """``status`` (400, 404, 413, ...) and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message
