"""Stand-in datasets: synthetic recordings written in each dataset's native layout.

The real datasets cannot be downloaded here, so the project synthesises small stand-ins
(``kedro run --pipeline=standin``) that the readers of ``datasets/`` read like the real
files. ``motion``: the procedural motion synthesiser; ``recording``: what a maker hands
to a writer; ``makers``: subjects, motions and cameras per dataset; one writer module
per dataset (``h36m``, ``mpi_inf_3dhp``, ``pw3d``, ``ski``).

Importing this package gives each dataset of the registry its stand-in (maker and
writer, ``datasets.registry.register_standin``).
"""

from adaptpose_pipeline.datasets.registry import register_standin
from adaptpose_pipeline.standin import h36m, makers, mpi_inf_3dhp, pw3d, ski

register_standin("h36m", makers.make_h36m, h36m.write_h36m)
register_standin("3dhp", makers.make_3dhp, mpi_inf_3dhp.write_3dhp)
register_standin("3dpw", makers.make_3dpw, pw3d.write_3dpw)
register_standin("ski", makers.make_ski, ski.write_ski)
