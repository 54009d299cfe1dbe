"""Images: the channel-last :class:`Image`, reading files (:mod:`.read`), writing them atomically
(:mod:`.write`, :mod:`.atomic`), and the checks a file's declarations pass before pixels are read."""
from .atomic import atomic_write, check_not_input
from .image import Image, guess_axes, to_channel_last
from .read import as_image, load_image, open_array
from .write import write_array

__all__ = ["Image", "guess_axes", "to_channel_last", "load_image", "as_image", "open_array", "write_array",
           "atomic_write", "check_not_input"]
