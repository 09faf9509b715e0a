"""Compiling specs into torch modules, and loading torchvision/timm weights into them.

Reads specs; never imports analysis, data or train. `archgen.compile.backbone` (a compiled net
under torchvision's FPN, for detection) is imported on demand: it loads torchvision.
"""

from archgen.compile.convert import convert_state_dict
from archgen.compile.network import FeatureNetwork, Network, build_model

__all__ = ["FeatureNetwork", "Network", "build_model", "convert_state_dict"]
