"""musekit: Magenta-style music generation on today's Python and TensorFlow."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'",
                    (HERE / 'musekit' / 'version.py').read_text()).group(1)

setup(
    name='musekit',
    version=VERSION,
    description='Train and play with music models: NoteSequences -> Beam -> Keras -> bundles.',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10,<3.13',
    # configs/, pipelines/ and bundles/ live at the top of the repository but install inside
    # musekit (pipelines/ with its subpackages, e.g. musekit.pipelines.readers).
    packages=(find_packages(include=['musekit', 'musekit.*'])
              + ['musekit.configs', 'musekit.pipelines', 'musekit.bundles']
              + ['musekit.pipelines.' + name for name in find_packages(str(HERE / 'pipelines'))]),
    package_dir={'musekit.configs': 'configs', 'musekit.pipelines': 'pipelines',
                 'musekit.bundles': 'bundles'},
    package_data={'musekit.configs': ['*.json'], 'musekit.bundles': ['*.musekit'],
                  'musekit.studio': ['static/*']},
    install_requires=[
        'tensorflow>=2.18,<2.23',
        'note-seq>=0.0.5,<0.1',
        'apache-beam[tfrecord]>=2.60,<3',
        'google-crc32c>=1.5',
        'absl-py>=2.0',
        'protobuf>=5,<7',
        'numpy>=1.26,<3',
        'music21>=9.1',
        # the output writers' libraries (note-seq brings them too; musekit imports them)
        'mido>=1.3',
        'soundfile>=0.12',
        'matplotlib>=3.7',
        'scipy>=1.11',      # the polyphonic benchmark .mat files, audio resampling
        'numba>=0.60',      # WaveNet's compiled generation step (librosa brings it too)
        'threadpoolctl>=3.1',   # generation's one BLAS thread (scikit-learn brings it too)
        # musekit_studio's web server, and its form uploads
        'starlette>=1.10',  # (its TestClient, for the tests, runs on httpx2)
        'uvicorn>=0.30',
        'python-multipart>=0.0.9',
    ],
    extras_require={
        # Beam's Dask runner (it ships inside apache-beam) needs dask and distributed
        'dask': ['dask[distributed]>=2024.1'],
        'test': ['pytest>=8', 'dask[distributed]>=2024.1', 'selenium>=4.20',
                 'httpx2>=2.0'],   # Starlette's TestClient (the studio's tests)
    },
    entry_points={
        'console_scripts': [
            'musekit_convert=musekit.cli.launch:convert',
            'musekit_create_dataset=musekit.cli.launch:create_dataset',
            'musekit_generate=musekit.cli.launch:generate',
            'musekit_import=musekit.cli.launch:import_magenta',
            'musekit_studio=musekit.cli.launch:studio',
            'musekit_train=musekit.cli.launch:train',
        ],
    },
)
