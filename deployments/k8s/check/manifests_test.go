package check

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

// manifestsDir is deployments/k8s, seen from this package.
const manifestsDir = ".."

var (
	renderedMu sync.Mutex
	rendered   = map[string]*Objects{}
)

// objects renders and decodes v once per test binary.
func objects(t *testing.T, v Variant) *Objects {
	t.Helper()
	renderedMu.Lock()
	defer renderedMu.Unlock()
	if o, ok := rendered[v.Name()]; ok {
		return o
	}
	o := renderFresh(t, v)
	rendered[v.Name()] = o
	return o
}

// renderFresh renders and decodes v into objects of the caller's own, which
// it may change.
func renderFresh(t *testing.T, v Variant) *Objects {
	t.Helper()
	m, err := Render(manifestsDir, v)
	if err != nil {
		t.Fatalf("render %s: %v", v.Name(), err)
	}
	o, err := Decode(m)
	if err != nil {
		t.Fatalf("decode %s strictly: %v", v.Name(), err)
	}
	return o
}

func TestEveryVariantPassesEveryCheck(t *testing.T) {
	t.Parallel()
	for _, v := range Variants() {
		t.Run(v.Name(), func(t *testing.T) {
			t.Parallel()
			o := objects(t, v)
			for _, err := range All(o) {
				t.Error(err)
			}
		})
	}
}

func TestVariantsHoldWhatTheirOverlayPromises(t *testing.T) {
	t.Parallel()
	dev := objects(t, Variant{Overlay: "dev"})
	if len(dev.StatefulSets) != 1 || dev.StatefulSets[0].Name != "nats" || *dev.StatefulSets[0].Spec.Replicas != 1 {
		t.Errorf("dev: want one one-node NATS StatefulSet, have %d StatefulSets", len(dev.StatefulSets))
	}
	for _, d := range dev.Deployments {
		if d.Spec.Replicas != nil && *d.Spec.Replicas != 1 {
			t.Errorf("dev: Deployment %s has %d replicas, want 1", d.Name, *d.Spec.Replicas)
		}
	}
	for _, h := range dev.HPAs {
		if h.Spec.MaxReplicas != 1 {
			t.Errorf("dev: HPA %s may scale to %d, want 1", h.Name, h.Spec.MaxReplicas)
		}
	}
	prod := objects(t, Variant{Overlay: "prod"})
	if len(prod.StatefulSets) != 0 {
		t.Errorf("prod: NATS comes from its Helm chart, yet the overlay has %d StatefulSets", len(prod.StatefulSets))
	}
	if got := prod.ConfigMaps["pbxhooks-common"].Data["NATS_STREAM_REPLICAS"]; got != "3" {
		t.Errorf("prod: NATS_STREAM_REPLICAS = %q, want 3 for the three-node cluster", got)
	}
	for _, d := range prod.Deployments {
		if d.Spec.Replicas != nil && *d.Spec.Replicas < 2 {
			t.Errorf("prod: Deployment %s has %d replicas", d.Name, *d.Spec.Replicas)
		}
	}
	for _, h := range prod.HPAs {
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			t.Errorf("prod: HPA %s may go below two replicas", h.Name)
		}
	}
	for _, v := range Variants() {
		o := objects(t, v)
		if slices.Contains(v.Components, "keda") != (len(o.ScaledObjects) == 2) {
			t.Errorf("%s: %d ScaledObjects", v.Name(), len(o.ScaledObjects))
		}
		if slices.Contains(v.Components, "monitoring") != (len(o.ServiceMonitors) == 1 && len(o.PrometheusRules) == 1) {
			t.Errorf("%s: %d ServiceMonitors, %d PrometheusRules", v.Name(), len(o.ServiceMonitors), len(o.PrometheusRules))
		}
		if slices.Contains(v.Components, "network-policy") != (len(o.NetworkPolicies) > 0) {
			t.Errorf("%s: %d NetworkPolicies", v.Name(), len(o.NetworkPolicies))
		}
	}
}

// The checks must find what they look for: each case breaks one thing in a
// copy of a good render and expects the named check to say so.
func TestChecksCatchBrokenManifests(t *testing.T) {
	t.Parallel()
	v := Variant{Overlay: "prod", Components: Components}
	for _, tc := range []struct {
		name   string
		check  func(*Objects) []error
		want   string
		mutate func(o *Objects)
	}{
		{"selector", CheckSelectors, "does not match its template", func(o *Objects) {
			deploymentNamed(o, "api").Spec.Template.Labels["app.kubernetes.io/name"] = "apii"
		}},
		{"service target port", CheckSelectors, "does not expose", func(o *Objects) {
			o.Services[0].Spec.Ports[0].TargetPort = intstr.FromString("metrics")
		}},
		{"long port name", CheckPortNames, "must be no more than 15 characters", func(o *Objects) {
			deploymentNamed(o, "ingest").Spec.Template.Spec.Containers[0].Ports[0].Name = "http-and-metrics-port"
		}},
		{"unread variable", CheckEnv, "sets INGEST_WORKERS, which matcher does not read", func(o *Objects) {
			c := &deploymentNamed(o, "matcher").Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "INGEST_WORKERS", Value: "4"})
		}},
		{"variable set twice", CheckEnv, "DATABASE_URL is set twice", func(o *Objects) {
			c := &deploymentNamed(o, "deliverer").Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "DATABASE_URL", Value: "postgres://elsewhere"})
		}},
		{"loopback listener", CheckProbes, "must be 0.0.0.0", func(o *Objects) {
			setEnv(deploymentNamed(o, "deliverer"), "DELIVERER_HEALTH_ADDR", "127.0.0.1:8083")
		}},
		{"probe path", CheckProbes, "readiness probe asks /healthz", func(o *Objects) {
			deploymentNamed(o, "api").Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path = "/healthz"
		}},
		{"probe port", CheckProbes, "listens on 8082", func(o *Objects) {
			setEnv(deploymentNamed(o, "matcher"), "MATCHER_HEALTH_ADDR", "0.0.0.0:8082")
			deploymentNamed(o, "matcher").Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 9090
		}},
		{"grace period", CheckGracePeriod, "does not exceed", func(o *Objects) {
			o.ConfigMaps["pbxhooks-common"].Data["SHUTDOWN_TIMEOUT"] = "2m"
		}},
		{"KEDA consumer", CheckScaledObjects, "but deliverer consumes DELIVERIES/deliverer", func(o *Objects) {
			for _, so := range o.ScaledObjects {
				if so.TargetName == "deliverer" {
					so.Triggers[0].Metadata["consumer"] = bus.ConsumerDeliverer + "-parked"
				}
			}
		}},
		{"KEDA fallback", CheckScaledObjects, "no fallback", func(o *Objects) {
			o.ScaledObjects[0].FallbackCount = nil
		}},
		{"untagged image", CheckImages, "has no tag", func(o *Objects) {
			deploymentNamed(o, "api").Spec.Template.Spec.InitContainers[0].Image = "pbxhooks/api"
		}},
		{"root", CheckHardening, "non-root uid", func(o *Objects) {
			deploymentNamed(o, "ingest").Spec.Template.Spec.SecurityContext.RunAsUser = new(int64)
		}},
		{"deliverer reaches metadata", CheckDelivererEgress, "allows 169.254.169.254/32", func(o *Objects) {
			for _, np := range o.NetworkPolicies {
				for _, r := range np.Spec.Egress {
					for _, peer := range r.To {
						if peer.IPBlock != nil && peer.IPBlock.CIDR == "0.0.0.0/0" && len(r.Ports) == 0 {
							peer.IPBlock.Except = slices.DeleteFunc(peer.IPBlock.Except, func(s string) bool { return s == "169.254.0.0/16" })
						}
					}
				}
			}
		}},
		{"IPv4-mapped except", CheckDelivererEgress, "refuses IPv4-mapped ranges", func(o *Objects) {
			for _, np := range o.NetworkPolicies {
				for _, r := range np.Spec.Egress {
					for _, peer := range r.To {
						if peer.IPBlock != nil && peer.IPBlock.CIDR == "::/0" && len(r.Ports) == 0 {
							peer.IPBlock.Except = append(peer.IPBlock.Except, "::ffff:0:0/96")
						}
					}
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := renderFresh(t, v)
			if errs := tc.check(o); len(errs) != 0 {
				t.Fatalf("the good render already fails: %v", errs)
			}
			tc.mutate(o)
			errs := tc.check(o)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }) {
				t.Errorf("after breaking the %s, the check says %v; want an error containing %q", tc.name, errs, tc.want)
			}
		})
	}
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80, targetport: http}]}\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoint: []}\n",
	} {
		if _, err := DecodeStrict([]byte(doc)); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("decoding %q: err = %v, want an unknown field error", doc, err)
		}
	}
}

// The values we ship for the NATS Helm chart: a three-node cluster with
// JetStream on volumes, which the R3 streams of overlays/prod need.
func TestNATSHelmValues(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(manifestsDir + "/overlays/prod/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled   bool `json:"enabled"`
				FileStore struct {
					Enabled bool `json:"enabled"`
					PVC     struct {
						Enabled bool   `json:"enabled"`
						Size    string `json:"size"`
					} `json:"pvc"`
				} `json:"fileStore"`
			} `json:"jetstream"`
			Monitor struct {
				Enabled bool `json:"enabled"`
				Port    int  `json:"port"`
			} `json:"monitor"`
		} `json:"config"`
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatalf("nats-values.yaml: %v", err)
	}
	c := values.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 {
		t.Errorf("cluster = %+v, want enabled with 3 replicas", c.Cluster)
	}
	if !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled || !c.JetStream.FileStore.PVC.Enabled || c.JetStream.FileStore.PVC.Size == "" {
		t.Errorf("jetstream = %+v, want file storage on a volume", c.JetStream)
	}
	prod := objects(t, Variant{Overlay: "prod", Components: []string{"keda"}})
	for _, so := range prod.ScaledObjects {
		endpoint := so.Triggers[0].Metadata["natsServerMonitoringEndpoint"]
		if !c.Monitor.Enabled || !strings.HasSuffix(endpoint, ":"+strconv.Itoa(c.Monitor.Port)) || !strings.HasPrefix(endpoint, "nats-headless."+Namespace+".") {
			t.Errorf("ScaledObject %s reads %s; the chart (release nats, namespace %s) serves monitoring on nats-headless port %d", so.Name, endpoint, Namespace, c.Monitor.Port)
		}
	}
}

func deploymentNamed(o *Objects, name string) *appsv1.Deployment {
	if d := o.deployment(name); d != nil {
		return d
	}
	panic("no Deployment " + name)
}

func setEnv(d *appsv1.Deployment, name, value string) {
	c := &d.Spec.Template.Spec.Containers[0]
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}
