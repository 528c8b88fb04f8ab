"""Building blocks with torch.nn-compatible signatures."""

from .convlstm import ConvLSTM, ConvLSTMCell
from .recurrent import GRU, RNN, GRUCell, PeepholeLSTM, PeepholeLSTMCell, RNNCell

__all__ = ["RNN", "GRU", "PeepholeLSTM", "RNNCell", "GRUCell", "PeepholeLSTMCell", "ConvLSTM", "ConvLSTMCell"]
