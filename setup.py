from glob import glob

from setuptools import find_packages, setup

setup(
    name="dejavu-cn",
    version="0.1.0",
    description="Audio fingerprinting and recognition: files, microphone, speech, web",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["dejavu_cn", "dejavu_cn.*", "recognizers", "recognizers.*",
                                    "segmenter", "segmenter.*", "web", "web.*"]),
    include_package_data=True,
    package_data={"web": ["templates/*.html", "static/*"]},
    data_files=[("share/dejavu-cn/sql", glob("sql/*.sql"))],
    install_requires=[
        "numpy>=1.22",
        "scipy>=1.8",
        "pydub>=0.25",
        "PyMySQL>=1.0",
        "tqdm>=4.60",
        "threadpoolctl>=3.1",
        "matplotlib>=3.5",
        "flask>=2.2",
        "waitress>=2.1",
        "pyaudio>=0.2.12",
    ],
    extras_require={"test": ["pytest>=7", "pytest-timeout>=2", "playwright>=1.40", "requests>=2.25"]},
    entry_points={
        "console_scripts": ["dejavu-cn = dejavu_cn.cli:console_main"],
        "dejavu_cn.plugins": [
            "recognizers = recognizers.cli",
            "microphone = recognizers.mic_cli",
            "speech = recognizers.speech_cli",
            "segmenter = segmenter.cli",
            "web = web.cli",
        ],
    },
)
