"""How synthetic people look: skin, hair and clothes per vertex, and Lambert shading.

SURREAL (Sec. 4.1) textures SMPL with scanned clothes. Here each body gets procedural clothes
from its part labels: a shirt (torso and a random sleeve length of the arms), trousers (a random
length of the legs: shorts to long), shoes (feet), skin elsewhere (face, hands, bare limbs) and
hair on the top/back of the head, with a varied skin-tone palette, random cloth colours, optional
shirt stripes and a little per-vertex texture noise. Shading is Lambertian with one random
directional light, an ambient term and a soft sky term.

Front and back must look different, or a network cannot tell which way a person faces and can
only predict an average over orientations (a squashed body; see notebook 06). Besides the hair
on the back of the head, every person therefore has a face (dark eyes and brows, a mouth), a
print on the front of the shirt and light toe caps on the shoes: cues that stay visible at
96-128 px crops, like a real face, a shirt's front and shoe toes.

Glossary: B batch, V vertices, F faces, H x W image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from decomr.body.joints import SMPL_JOINT_NAMES
from decomr.data.backgrounds import hash_uniform, map_params, random_color
from decomr.render.images import vertex_normals

__all__ = [
    "REGION_NAMES",
    "FRONT_MARKS",
    "SKIN_TONES",
    "BodyRegions",
    "AppearanceParams",
    "body_regions",
    "sample_appearance",
    "vertex_albedo",
    "shade",
]

#: Front-only markings of :attr:`BodyRegions.front_mark` (index 0 = none).
FRONT_MARKS: tuple[str, ...] = ("none", "eyes", "mouth", "shirt_print", "toe_cap")

#: Appearance regions of :attr:`BodyRegions.region`.
REGION_NAMES: tuple[str, ...] = ("head", "torso", "arm", "hand", "leg", "foot")

#: Skin tones (sRGB, light to dark), jittered per person.
SKIN_TONES: tuple[tuple[float, float, float], ...] = (
    (0.96, 0.80, 0.69), (0.92, 0.72, 0.60), (0.86, 0.65, 0.52), (0.78, 0.57, 0.43),
    (0.66, 0.47, 0.34), (0.53, 0.36, 0.25), (0.40, 0.27, 0.19), (0.29, 0.19, 0.13),
)
_HAIR_TONES = ((0.08, 0.06, 0.05), (0.22, 0.14, 0.08), (0.45, 0.30, 0.16), (0.75, 0.62, 0.40),
               (0.55, 0.55, 0.55), (0.50, 0.20, 0.10))


@dataclass(frozen=True)
class BodyRegions:
    """Per-vertex appearance regions of a body model (built once from its template).

    Attributes:
        region: (V,) int64 index into :data:`REGION_NAMES`.
        limb_t: (V,) float32 position along the limb, 0 at the shoulder / hip, 1 at the wrist /
            ankle (0 off the limbs); sleeve and trouser lengths are thresholds on it.
        height: (V,) float32 template height, 0 at the feet, 1 at the head top (for stripes).
        back_hair: (V,) float32 0 on the crown, 0..1 from the top of the back of the head down to
            the nape, 2 on the face: a head vertex has hair when this is below the person's
            ``hair_length``.
        front_mark: (V,) int64 front-only markings (:data:`FRONT_MARKS`): 0 none, 1 eyes and brows,
            2 mouth, 3 shirt print (chest), 4 toe caps.
    """

    region: Tensor
    limb_t: Tensor
    height: Tensor
    back_hair: Tensor
    front_mark: Tensor

    def to(self, device) -> "BodyRegions":
        return map_params(lambda t: t.to(device), self)


def _segment_t(points: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Position of (N, 3) points projected on the segment a -> b, clamped to [0, 1]."""
    d = b - a
    return (((points - a) @ d) / (d @ d)).clamp(0.0, 1.0)


def body_regions(body) -> BodyRegions:
    """Appearance regions from the body's LSP parts, weight groups and template joints.

    Args:
        body: a :class:`decomr.body.BodyModel` (uses ``template``, ``lsp_parts``,
            ``weight_parts``, ``regress_joints``).

    Returns:
        :class:`BodyRegions` on the CPU.
    """
    T = body.template.detach().cpu().float()  # (V, 3) canonical frame: y up, z front
    parts = body.lsp_parts.cpu()
    groups = body.weight_parts.cpu()
    J = body.regress_joints(T[None])[0][0].cpu()  # (24, 3)
    j = {n: J[i] for i, n in enumerate(SMPL_JOINT_NAMES)}
    V = T.shape[0]
    region = torch.full((V,), REGION_NAMES.index("torso"), dtype=torch.long)
    limb_t = torch.zeros(V)
    head = parts == 1
    top = T[head, 1].max()
    head_y, head_z = j["head"][1], j["head"][2]
    # Hair: the top of the skull, and the back of the head down to a length chosen per person.
    back_hair = torch.full((V,), 2.0)
    crown = T[:, 1] > head_y + 0.45 * (top - head_y)
    back = T[:, 2] < head_z - 0.005
    depth = ((top - T[:, 1]) / (top - j["neck"][1])).clamp(0, 1)  # 0 top .. 1 neck
    back_hair = torch.where(head & crown, torch.zeros(V), back_hair)
    back_hair = torch.where(head & back & ~crown, depth, back_hair)
    region[head] = REGION_NAMES.index("head")
    for side in ("left", "right"):
        arm = parts == (3 if side == "left" else 4)
        leg = parts == (5 if side == "left" else 6)
        limb_t[arm] = _segment_t(T[arm], j[f"{side}_shoulder"], j[f"{side}_wrist"])
        limb_t[leg] = _segment_t(T[leg], j[f"{side}_hip"], j[f"{side}_ankle"])
        region[arm] = REGION_NAMES.index("arm")
        region[leg] = REGION_NAMES.index("leg")
        region[arm & (groups == 3)] = REGION_NAMES.index("hand")
        region[leg & (groups == 3)] = REGION_NAMES.index("foot")
    height = (T[:, 1] - T[:, 1].min()) / (T[:, 1].max() - T[:, 1].min())
    front_mark = _front_marks(body, T, region, back_hair, j)
    return BodyRegions(region=region, limb_t=limb_t, height=height, back_hair=back_hair, front_mark=front_mark)


def _front_marks(body, T: Tensor, region: Tensor, back_hair: Tensor, j: dict[str, Tensor]) -> Tensor:
    """(V,) :data:`FRONT_MARKS` codes from the template (canonical frame: y up, z front, x left)."""
    n = vertex_normals(T[None], body.faces.cpu())[0]  # (V, 3)
    facing = n[:, 2]  # > 0: the vertex looks forwards
    mark = torch.zeros(T.shape[0], dtype=torch.long)
    head = (region == REGION_NAMES.index("head")) & (back_hair > 1.5) & (facing > 0.35)  # the face
    top = T[region == REGION_NAMES.index("head"), 1].max()
    chin = j["neck"][1] + 0.25 * (top - j["neck"][1])
    rel = (T[:, 1] - chin) / (top - chin)  # 0 at the chin, 1 at the top of the head
    x = (T[:, 0] - j["head"][0]).abs()
    eyes = head & (rel > 0.50) & (rel < 0.66) & (x > 0.012) & (x < 0.055)
    mouth = head & (rel > 0.12) & (rel < 0.22) & (x < 0.025)
    mark[eyes] = FRONT_MARKS.index("eyes")
    mark[mouth] = FRONT_MARKS.index("mouth")
    torso = region == REGION_NAMES.index("torso")
    chest_lo = j["spine2"][1]
    chest_hi = j["spine3"][1] + 0.6 * (j["neck"][1] - j["spine3"][1])
    print_ = torso & (facing > 0.5) & (T[:, 1] > chest_lo) & (T[:, 1] < chest_hi) & ((T[:, 0] - j["spine3"][0]).abs() < 0.08)
    mark[print_] = FRONT_MARKS.index("shirt_print")
    foot = region == REGION_NAMES.index("foot")
    left = (T[:, 0] - j["pelvis"][0]) * (j["left_hip"][0] - j["pelvis"][0]) > 0
    ankle_z = torch.where(left, j["left_ankle"][2], j["right_ankle"][2])
    mark[foot & (T[:, 2] > ankle_z + 0.07)] = FRONT_MARKS.index("toe_cap")
    return mark


@dataclass(frozen=True)
class AppearanceParams:
    """Appearance and light of one person (unbatched: drop the leading B).

    Attributes:
        skin, hair, shirt, shirt2, trousers, shoes: (B, 3) sRGB colours in [0, 1].
        hair_length: (B,) 0 = bald, up to 1 = down to the nape.
        sleeve: (B,) covered fraction of the arm (0 sleeveless .. 1 long sleeves).
        trouser: (B,) covered fraction of the leg (0.35 shorts .. 1 long trousers).
        stripes: (B, 2) shirt stripes: amplitude (0 = plain), periods over the body height.
        texture: (B,) amplitude of the per-vertex texture noise.
        light_dir: (B, 3) unit direction towards the light, camera frame.
        ambient, diffuse: (B,) light intensities.
        seed: (B,) int64 texture-noise seed.
        print_color: (B, 3) colour of the print on the shirt's front.
        toe: (B, 3) colour of the shoes' toe caps.
    """

    skin: Tensor
    hair: Tensor
    shirt: Tensor
    shirt2: Tensor
    trousers: Tensor
    shoes: Tensor
    hair_length: Tensor
    sleeve: Tensor
    trouser: Tensor
    stripes: Tensor
    texture: Tensor
    light_dir: Tensor
    ambient: Tensor
    diffuse: Tensor
    seed: Tensor
    print_color: Tensor
    toe: Tensor


def sample_appearance(generator: torch.Generator | None = None, texture_noise: float = 0.06,
                      seed: int | None = None) -> AppearanceParams:
    """Draw one person's appearance and light (a fixed number of draws).

    Args:
        generator: CPU generator of the sample.
        texture_noise: maximum per-vertex texture-noise amplitude.
        seed: texture-noise seed; drawn from ``generator`` when None.
    """
    g = generator
    tones = torch.tensor(SKIN_TONES)
    skin = tones[torch.randint(len(SKIN_TONES), (1,), generator=g)[0]]
    skin = (skin * (0.92 + 0.16 * torch.rand(3, generator=g))).clamp(0, 1)
    hairs = torch.tensor(_HAIR_TONES)
    hair = (hairs[torch.randint(len(_HAIR_TONES), (1,), generator=g)[0]] * (0.8 + 0.4 * torch.rand((), generator=g))).clamp(0, 1)
    u = torch.rand(8, generator=g)
    hair_length = torch.where(u[0] < 0.12, torch.tensor(0.0), 0.15 + 0.85 * u[1])
    sleeve = torch.where(u[2] < 0.25, torch.tensor(0.0), torch.where(u[3] < 0.5, 0.25 + 0.15 * u[4], torch.tensor(1.0)))
    trouser = torch.where(u[5] < 0.3, 0.35 + 0.15 * u[6], torch.tensor(1.0))
    cloth = random_color(g, 4)  # shirt, shirt2, trousers, shoes
    stripes = torch.stack([torch.where(u[7] < 0.3, 0.5 + 0.5 * torch.rand((), generator=g), torch.tensor(0.0)),
                           4.0 + 16.0 * torch.rand((), generator=g)])
    texture = texture_noise * torch.rand((), generator=g)
    # Light from the camera's side of the person, mostly from above (y is down).
    lx, ly, lz = torch.rand(3, generator=g)
    light = F.normalize(torch.stack([2 * lx - 1, -0.2 - 0.8 * ly, -0.3 - 1.2 * lz]), dim=0)
    ambient = 0.3 + 0.3 * torch.rand((), generator=g)
    diffuse = 0.4 + 0.5 * torch.rand((), generator=g)
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
    # Front cues: a print that contrasts with the shirt (its complement, jittered), light toe caps.
    print_color = ((1.0 - cloth[0]) * (0.7 + 0.3 * torch.rand(3, generator=g))).clamp(0, 1)
    toe = 0.75 + 0.25 * torch.rand((), generator=g).expand(3)
    return AppearanceParams(skin=skin, hair=hair, shirt=cloth[0], shirt2=cloth[1], trousers=cloth[2],
                            shoes=cloth[3] * 0.6, hair_length=hair_length, sleeve=sleeve, trouser=trouser,
                            stripes=stripes, texture=texture, light_dir=light, ambient=ambient,
                            diffuse=diffuse, seed=torch.tensor(int(seed), dtype=torch.int64),
                            print_color=print_color, toe=toe.clone())


def vertex_albedo(regions: BodyRegions, params: AppearanceParams) -> Tensor:
    """Per-vertex colours of a batch of people.

    Args:
        regions: :class:`BodyRegions` of the body (on the target device).
        params: batched :class:`AppearanceParams` (on the target device).

    Returns:
        (B, V, 3) float32 in [0, 1].
    """
    if params.skin.dim() != 2 or params.skin.shape[-1] != 3:
        raise ValueError(f"params.skin: expected a batch (B, 3) (stack the parameters), got {tuple(params.skin.shape)}")
    r = regions.region[None, :, None]  # (1, V, 1)
    t = regions.limb_t[None, :, None]
    p = params
    c = lambda x: x[:, None, :]  # noqa: E731  (B, 3) -> (B, 1, 3)
    s = lambda x: x[:, None, None]  # noqa: E731  (B,) -> (B, 1, 1)
    stripe = 0.5 + 0.5 * torch.sin(2 * math.pi * s(p.stripes[:, 1]) * regions.height[None, :, None])
    shirt = c(p.shirt) + s(p.stripes[:, 0]) * (stripe > 0.5).float() * (c(p.shirt2) - c(p.shirt))  # (B, V, 3)
    skin = c(p.skin)
    is_ = lambda name: r == REGION_NAMES.index(name)  # noqa: E731
    hair_on = regions.back_hair[None, :, None] < s(p.hair_length)
    col = torch.where(is_("head"), torch.where(hair_on, c(p.hair), skin), shirt)  # torso default: shirt
    col = torch.where(is_("arm"), torch.where(t < s(p.sleeve), shirt, skin), col)
    col = torch.where(is_("hand"), skin, col)
    col = torch.where(is_("leg"), torch.where(t < s(p.trouser), c(p.trousers), skin), col)
    col = torch.where(is_("foot"), c(p.shoes), col)
    # Front-only cues (see the module docstring): face, shirt print, toe caps.
    m = regions.front_mark[None, :, None]
    col = torch.where(m == FRONT_MARKS.index("eyes"), 0.25 * skin, col)
    col = torch.where(m == FRONT_MARKS.index("mouth"), skin * torch.tensor([0.75, 0.4, 0.4], device=skin.device), col)
    on_shirt = (m == FRONT_MARKS.index("shirt_print")) & ~is_("arm")
    col = torch.where(on_shirt, c(p.print_color), col)
    col = torch.where(m == FRONT_MARKS.index("toe_cap"), c(p.toe), col)
    V = regions.region.shape[0]
    noise = hash_uniform(p.seed, V, salt=11)[..., None]  # (B, V, 1)
    return (col * (1 + s(p.texture) * (2 * noise - 1))).clamp(0.0, 1.0)


def shade(normals: Tensor, points: Tensor, albedo: Tensor, params: AppearanceParams) -> Tensor:
    """Lambert shading per pixel, two-sided (normals turned towards the camera).

    ``rgb = albedo * (ambient * (0.85 + 0.15 sky) + diffuse * max(0, n . l))`` with
    ``sky = -n_y`` (up is -y in the camera frame).

    Args:
        normals: (B, 3, H, W) interpolated vertex normals (any length; 0 on the background).
        points: (B, 3, H, W) camera-frame positions of the visible points (for the view ray).
        albedo: (B, 3, H, W) colours.
        params: batched :class:`AppearanceParams` (light_dir, ambient, diffuse used).

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    for name, x in (("normals", normals), ("points", points), ("albedo", albedo)):
        if x.dim() != 4 or x.shape[1] != 3 or x.shape != normals.shape:
            raise ValueError(f"{name}: expected (B, 3, H, W) like normals {tuple(normals.shape)}, got {tuple(x.shape)}")
    if params.light_dir.shape != (normals.shape[0], 3):
        raise ValueError(f"params.light_dir: expected ({normals.shape[0]}, 3), got {tuple(params.light_dir.shape)}")
    n = F.normalize(normals, dim=1, eps=1e-12)
    facing = (n * points).sum(1, keepdim=True) > 0  # normal points away from the camera
    n = torch.where(facing, -n, n)
    light = params.light_dir[:, :, None, None]
    lambert = (n * light).sum(1, keepdim=True).clamp_min(0.0)  # (B, 1, H, W)
    sky = -n[:, 1:2]
    amb = params.ambient[:, None, None, None] * (0.85 + 0.15 * sky)
    return (albedo * (amb + params.diffuse[:, None, None, None] * lambert)).clamp(0.0, 1.0)
