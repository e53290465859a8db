from setuptools import find_packages, setup

setup(
    name="videosce",
    version="0.1.0",
    description="Video self-supervised pretraining with Similarity Contrastive Estimation (SCE)",
    packages=find_packages(include=["videosce", "videosce.*"]),
    python_requires=">=3.10",
    install_requires=[
        # torch 2.14.1 / torchvision 0.29.1 / av 18.1.0 are the tested set (DEPENDENCIES.md)
        "torch>=2.4,<=2.14.1",
        "torchvision>=0.19,<=0.29.1",
        "av>=12,<20",
        "numpy>=1.24",
        "omegaconf>=2.3,<2.5",
        "tqdm>=4.60",
        "tensorboard>=2.14",
        "pytorchvideo==0.1.5",  # R3D-50 / R(2+1)D-50 / X3D definitions (pytorchvideo.models only)
        "fvcore>=0.1.5.post20221221",  # FLOP counts (tools/model_info.py)
        "einops>=0.6",  # tensor layout changes (rearrange / reduce)
        "matplotlib>=3.7",  # evaluation pictures
    ],
    extras_require={
        # optional decoders (data.decoder=decord|torchcodec|dali); torchcodec also needs FFmpeg's
        # shared libraries (Debian: apt-get install ffmpeg)
        "decord": ["decord==0.6.0"],
        "torchcodec": ["torchcodec==0.17.0"],
        "dali": ["nvidia-dali-cuda130==2.4.0"],
        "test": ["pytest>=7", "pytest-timeout>=2", "decord==0.6.0"],
    },
)
