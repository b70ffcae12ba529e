"""Disabled Ant for reward transfer, after AIRL (Fu et al. 2018, "disabled ant").

Registered as ``irl/DisabledAnt-v5``: gymnasium's Ant-v5, same reward, same termination, same
27-dim observation as this project's Ant-v5 (``include_cfrc_ext_in_observation=False``) and the
same 8-dim action, with the model edited at construction from gymnasium's own ``ant.xml``:

- Legs 3 and 4 (bodies ``back_leg`` and ``right_back_leg``, the two legs on the -y side) are
  shortened to half length: the thigh capsules (``back_leg_geom``, ``rightback_leg_geom``) go
  from 0.2·√2 to 0.1·√2 long, the lower legs (``third_ankle_geom``, ``fourth_ankle_geom``) from
  0.4·√2 to 0.2·√2, and the ankle bodies move to the thighs' new ends. The short stubs that join
  those legs to the torso (``aux_3_geom``, ``aux_4_geom``, rigidly attached) are unchanged.
- Their four motors (``hip_3``, ``ankle_3``, ``hip_4``, ``ankle_4``) get gear 1 instead of
  Ant-v5's 150, i.e. 1/150 of the torque: the ratio of the AIRL reference code (gear 1 vs 150).

Why these legs: they are the two the AIRL reference code cripples. Ant-v5 rewards velocity
along +x, so both crippled legs sit on the same flank relative to the running direction: the
expert's gait is impossible and a policy has to find a new one, while a reward that encodes
"move along +x" (rather than the expert's joint motions) still transfers.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from gymnasium import utils
from gymnasium.envs.mujoco import ant_v5

ANT_XML = Path(ant_v5.__file__).parent / "assets" / "ant.xml"
DISABLED_LEGS = ("back_leg", "right_back_leg")  # bodies of legs 3 and 4
DISABLED_MOTORS = ("hip_3", "ankle_3", "hip_4", "ankle_4")


def _scale(values: str, factor: float) -> str:
    return " ".join(f"{float(v) * factor:g}" for v in values.split())


def disabled_ant_xml(leg_scale: float = 0.5, disabled_gear: float = 1.0) -> str:
    """The Ant-v5 model XML with legs 3 and 4 shortened and their motors weakened.

    Args:
        leg_scale: length factor for the thigh and lower leg of the disabled legs.
        disabled_gear: gear of their four motors (Ant-v5 uses 150 for every motor).

    Returns:
        The edited MJCF document as a string.
    """
    root = ET.parse(ANT_XML).getroot()
    for leg_name in DISABLED_LEGS:
        leg = root.find(f".//body[@name='{leg_name}']")
        if leg is None:
            raise ValueError(f"{ANT_XML}: no body named {leg_name!r}")
        hip = leg.find("body")  # aux_3 / aux_4: the hip joint, thigh geom and ankle body
        ankle = hip.find("body") if hip is not None else None
        if hip is None or ankle is None:
            raise ValueError(f"{ANT_XML}: leg {leg_name!r} has no hip/ankle bodies")
        for geom in (*hip.findall("geom"), *ankle.findall("geom")):
            geom.set("fromto", _scale(geom.attrib["fromto"], leg_scale))
        ankle.set("pos", _scale(ankle.attrib["pos"], leg_scale))
    for motor in root.iter("motor"):
        if motor.get("joint") in DISABLED_MOTORS:
            motor.set("gear", f"{disabled_gear:g}")
    return ET.tostring(root, encoding="unicode")


class DisabledAntEnv(ant_v5.AntEnv):
    """Ant-v5 with legs 3 and 4 half as long and 1/150 of their motor torque (see module doc)."""

    def __init__(self, leg_scale: float = 0.5, disabled_gear: float = 1.0, **kwargs: Any) -> None:
        """Build the edited model, then Ant-v5 on it.

        Args:
            leg_scale: length factor for the disabled legs' thighs and lower legs.
            disabled_gear: gear of the disabled legs' four motors.
            **kwargs: Ant-v5 keyword arguments (``xml_file`` excepted).
        """
        if "xml_file" in kwargs:
            raise TypeError("DisabledAntEnv builds its own model: xml_file is not accepted")
        fd, path = tempfile.mkstemp(suffix=".xml", prefix="disabled_ant_")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(disabled_ant_xml(leg_scale, disabled_gear))
            super().__init__(xml_file=path, **kwargs)  # MuJoCo reads the file here, only here
        finally:
            os.unlink(path)
        # Pickle/copy rebuilds from these arguments, not from the deleted temporary file.
        utils.EzPickle.__init__(self, leg_scale, disabled_gear, **kwargs)
