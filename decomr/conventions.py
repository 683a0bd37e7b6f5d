"""decomr's conventions in one place: frames, image coordinates, IUV images, UV and location maps.

Every module that says "see :mod:`decomr.conventions`" follows these rules; they are tested
where they are implemented (cameras, crops, rasterisers, samplers).

Frames
    *Canonical body frame* (body models' output, like SMPL): metres, y up, the body faces +z,
    x points to the body's left. *Camera frame*: OpenCV, x right, y down, z away from the
    camera. An upright person facing the camera has ``global_orient = (pi, 0, 0)``
    (:data:`decomr.uv.maps.CAMERA_FACING_ORIENT`).

Image coordinates
    *Pixels* ``(x, y) = (column, row)``, pixel centres at integers (OpenCV). *Normalised*
    coordinates in ``[-1, 1]``, x right, y down: the centre of pixel (row i, col j) of an H x W
    image is at ``x = (2 j + 1) / W - 1``, ``y = (2 i + 1) / H - 1`` — ``grid_sample(...,
    align_corners=False)`` semantics. A person crop of ``center`` and ``scale`` spans
    ``200 * scale`` pixels (:mod:`decomr.data.crop`).

Weak-perspective camera (Sec. 3.2)
    ``c = [s, tx, ty]`` maps a camera-frame point to ``s * (X[..., :2] + [tx, ty])`` in
    normalised crop coordinates (:func:`decomr.render.cameras.weak_perspective_project`).

IUV image (Sec. 3.1, the target of Eq. 4)
    ``(B, 3, H, W)`` float: channel 0 the foreground mask in {0, 1}, channels 1-2 the (u, v) of
    the visible surface point in [0, 1], 0 on the background. Stored as 8-bit PNG with
    ``R = 255 * mask``, ``G = round(255 * u)``, ``B = round(255 * v)``.

UV maps (location maps, weight maps, transferred features)
    u grows to the right (column), v grows downwards (row). Pixel (row i, col j) of an R x R map
    has its centre at ``u = j / (R - 1)``, ``v = i / (R - 1)`` — ``align_corners=True``
    semantics, so that the map's corner pixels sit on the UV square's corners.

Location map (Sec. 3.3)
    ``(B, 3, R, R)``: at each pixel inside the UV chart the 3D position of the surface point
    with that (u, v), in the camera frame, metres, minus the pelvis (joint 0 of the 24 joints);
    0 outside the chart. Meshes (``(B, V, 3)``) and joints in datasets and predictions are
    pelvis-centred the same way.
"""
