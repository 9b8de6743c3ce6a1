"""The copier: registry-to-registry over the OCI distribution API, streaming, no AWS inside.

Modules, from the top: ``copy`` (copy_image, CopyResult), ``describe`` (describe_image,
head_digest), ``referrers``, ``blobs`` and ``manifest_calls`` (one small function per protocol
step), ``manifests`` (parsing and limits), ``reference`` (names and digests), ``transport`` (the
one request path, with ``auth``, ``urls``, ``answers``, ``connections`` and ``deadline``), and
``registry_config`` (https by default, per registry).
"""
