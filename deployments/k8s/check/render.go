// Package check renders the pbxhooks Kubernetes manifests: every overlay of
// deployments/k8s alone and with each optional component, the same set the
// manifest tests check and `make k8s-check` applies to a real API server.
package check

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Namespace is where the overlays install pbxhooks.
const Namespace = "pbxhooks"

// Overlays and Components are the directories under deployments/k8s.
var (
	Overlays   = []string{"dev", "prod"}
	Components = []string{"keda", "monitoring", "network-policy", "connector-freeswitch"}
)

// Variant is one overlay with some components.
type Variant struct {
	Overlay    string
	Components []string
}

// Name is "dev", "dev+keda", "prod+keda+monitoring+network-policy", ...
func (v Variant) Name() string {
	return strings.Join(append([]string{v.Overlay}, v.Components...), "+")
}

// Variants returns each overlay alone, with each component, and with all
// of them.
func Variants() []Variant {
	var out []Variant
	for _, o := range Overlays {
		out = append(out, Variant{Overlay: o})
		for _, c := range Components {
			out = append(out, Variant{Overlay: o, Components: []string{c}})
		}
		out = append(out, Variant{Overlay: o, Components: Components})
	}
	return out
}

// ParseVariant reads a Name back.
func ParseVariant(name string) (Variant, error) {
	for _, v := range Variants() {
		if v.Name() == name {
			return v, nil
		}
	}
	return Variant{}, fmt.Errorf("unknown variant %q", name)
}

// Render builds variant v from the manifests in dir (deployments/k8s). The
// tree is copied into memory, so the variant's own kustomization (the
// overlay as a resource, the components) is never written to disk.
func Render(dir string, v Variant) (resmap.ResMap, error) {
	mem := filesys.MakeFsInMemory()
	const root = "/k8s"
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join(root, rel), data)
	})
	if err != nil {
		return nil, fmt.Errorf("read manifests in %s: %w", dir, err)
	}
	var kust strings.Builder
	fmt.Fprintf(&kust, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources:\n  - ../../overlays/%s\n", Namespace, v.Overlay)
	if len(v.Components) > 0 {
		kust.WriteString("components:\n")
		for _, c := range v.Components {
			fmt.Fprintf(&kust, "  - ../../components/%s\n", c)
		}
	}
	variantDir := filepath.Join(root, "variants", "v")
	if err := mem.WriteFile(filepath.Join(variantDir, "kustomization.yaml"), []byte(kust.String())); err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, variantDir)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", v.Name(), err)
	}
	return m, nil
}
