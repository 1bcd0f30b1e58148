# The project's smoke workload (tests/cluster/go/demohttp), built from source with the upstream Go image for the
# kind scenario (create.yml): the local cluster packs the same program with tests/cluster/mkimage.py instead.
FROM golang:1.24 AS build
WORKDIR /src
COPY tests/cluster/go/demohttp/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /demohttp .

FROM scratch
COPY --from=build /demohttp /demohttp
USER 65532
EXPOSE 8080
ENTRYPOINT ["/demohttp"]
CMD ["serve"]
