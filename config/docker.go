package config

import (
	"path"
	"slices"
	"strconv"
	"strings"
)

// dockerCanonical returns `docker run` (or podman's) argv with its volumes
// spelled one way, for rules written the other: --volume X, --volume=X,
// -v=X, -vX and -itv X become "-v X"; --mount type=bind,source=S,target=T
// becomes "-v S:T"; an absolute host path is cleaned ("//" and "/." are
// "/"); --privileged=true is --privileged; and `docker container run` is
// `docker run`. So the default rule
// "docker run -v /:/" (upstream's text) matches every way of binding the
// host's root into a container. It returns nil when argv is not such a
// command or is spelled that way already.
//
// The canonical form is checked in addition to argv as written (see
// commandPolicy.check), never instead of it: a rule written for one
// spelling keeps matching it.
func dockerCanonical(argv []string) []string {
	if len(argv) < 2 || argv[0] != "docker" && argv[0] != "podman" {
		return nil
	}
	// Global options come before the subcommand: docker --context x run.
	i := 1
	for i < len(argv) && argv[i] != "run" && !(argv[i] == "container" && i+1 < len(argv) && argv[i+1] == "run") {
		t := argv[i]
		if t == "-" || t == "--" || !strings.HasPrefix(t, "-") {
			return nil
		}
		i++
		takesValue := len(t) == 2 || strings.HasPrefix(t, "--") && !strings.Contains(t, "=")
		if takesValue && i < len(argv) && !strings.HasPrefix(argv[i], "-") && argv[i] != "run" && argv[i] != "container" {
			i++
		}
	}
	if i == len(argv) {
		return nil
	}
	out := append(slices.Clip(argv[:i]), "run")
	if argv[i] == "container" {
		i++
	}
	volume := func(spec string) {
		out = append(out, "-v", cleanVolume(spec))
	}
	for i++; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			out = append(out, argv[i:]...)
			i = len(argv)
		case a == "--volume" || a == "--mount":
			if i+1 == len(argv) {
				out = append(out, a)
				continue
			}
			i++
			if a == "--volume" {
				volume(argv[i])
			} else if v, ok := mountAsVolume(argv[i]); ok {
				volume(v)
			} else {
				out = append(out, a, argv[i])
			}
		case strings.HasPrefix(a, "--privileged="):
			// A boolean flag's value: --privileged=true is --privileged.
			if on, err := strconv.ParseBool(a[len("--privileged="):]); err == nil && on {
				out = append(out, "--privileged")
			} else {
				out = append(out, a)
			}
		case strings.HasPrefix(a, "--volume="):
			volume(a[len("--volume="):])
		case strings.HasPrefix(a, "--mount="):
			if v, ok := mountAsVolume(a[len("--mount="):]); ok {
				volume(v)
			} else {
				out = append(out, a)
			}
		case len(a) > 1 && a[0] == '-' && a[1] != '-':
			// A cluster of short options: -d, -i, -t and -P take no value;
			// -v takes the rest of the cluster ("-v=X" too) or the next
			// argument; any other option takes the rest as its value.
			j := 1
			for j < len(a) && strings.IndexByte("ditP", a[j]) >= 0 {
				j++
			}
			if j == len(a) || a[j] != 'v' || j+1 == len(a) && i+1 == len(argv) {
				out = append(out, a)
				continue
			}
			if j > 1 {
				out = append(out, a[:j])
			}
			spec := strings.TrimPrefix(a[j+1:], "=")
			if spec == "" && i+1 < len(argv) {
				i++
				spec = argv[i]
			}
			volume(spec)
		default:
			out = append(out, a)
		}
	}
	if slices.Equal(out, argv) {
		return nil
	}
	return out
}

// cleanVolume cleans the host path of a HOST:CONTAINER[:OPTIONS] volume
// when it is absolute: "//:/x" and "/.:/x" bind the root as "/:/x" does.
func cleanVolume(spec string) string {
	host, rest, ok := strings.Cut(spec, ":")
	if !ok || !strings.HasPrefix(host, "/") {
		return spec
	}
	return path.Clean(host) + ":" + rest
}

// mountAsVolume turns a --mount specification of a bind mount
// (type=bind,source=S,target=T, in any order, src= and dst= or
// destination= too) into the volume "S:T". A mount of another type, or
// one without an absolute source, is not a bind of a host path: ok false.
func mountAsVolume(spec string) (string, bool) {
	var typ, src, dst string
	for _, field := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(field, "=")
		v = strings.Trim(v, `"'`)
		switch strings.ToLower(strings.Trim(k, `"'`)) {
		case "type":
			typ = v
		case "source", "src":
			src = v
		case "target", "destination", "dst":
			dst = v
		}
	}
	if typ != "" && typ != "bind" || !strings.HasPrefix(src, "/") {
		return "", false
	}
	return src + ":" + dst, true
}
