# Stand-in for the golang image: the Debian stand-in plus this machine's Go
# toolchain (the build context is its GOROOT).
ARG BASE
FROM ${BASE}
COPY . /usr/local/go
ENV GOROOT=/usr/local/go GOPATH=/go GOTOOLCHAIN=local \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
