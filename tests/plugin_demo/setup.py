"""A musekit plugin that lives outside musekit: installed by tests/test_plugin.py."""
from setuptools import setup

setup(
    name='musekit-demo-keys',
    version='0.1',
    packages=['musekit_demo_keys'],
    entry_points={'musekit.plugins': ['demo_keys = musekit_demo_keys']},
)
