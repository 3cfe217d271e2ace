# The Debian bookworm slim base that docker/build.sh makes with mmdebstrap where no image
# registry is reachable: one layer, the root file system, as Docker Hub's debian images are made.
FROM scratch
ADD rootfs.tar /
CMD ["bash"]
