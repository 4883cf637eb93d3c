from glob import glob

from setuptools import find_packages, setup

MIC = ["pyaudio>=0.2.12"]                   # dejavu-cn listen / recognize mic (PortAudio)
WEB = ["flask>=2.2", "waitress>=2.1"]       # dejavu-cn serve
PLOTS = ["matplotlib>=3.5"]                 # dejavu-cn plot, evaluate -o, the page's pictures

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
    # the core: register, recognise files, evaluate (numpy >= 2: np.bitwise_count; SciPy built for it)
    install_requires=[
        "numpy>=2",
        "scipy>=1.13",
        "pydub>=0.25",
        "PyMySQL>=1.0",
        "tqdm>=4.60",
        "threadpoolctl>=3.1",
    ],
    # optional parts; the core imports none of them, and a command or page that needs a missing one
    # names the extra to install. scripts/setup.sh (the README's set-up) installs .[all,test].
    extras_require={
        "mic": MIC,
        "web": WEB,
        "plots": PLOTS,
        "all": MIC + WEB + PLOTS,
        "test": ["pytest>=7", "pytest-timeout>=2", "playwright>=1.40", "requests>=2.25", "axe-playwright-python>=0.1.8"],
    },
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
