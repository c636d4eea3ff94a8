package check

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/netguard"
)

// Each check returns every problem it finds in a rendered variant, so one
// run names them all.

// imageRepo is the image name a pbxhooks service is built as; the service
// name after it says which of config.Variables the container may be given.
const imageRepo = "pbxhooks/"

// PodRunAsUser is the uid the images run as (deployments/Dockerfile).
const PodRunAsUser = 10001

// workload is a Deployment or StatefulSet seen through its pod template.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	template   *corev1.PodTemplateSpec
}

func (o *Objects) workloads() []workload {
	var out []workload
	for _, d := range o.Deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector, &d.Spec.Template})
	}
	for _, s := range o.StatefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector, &s.Spec.Template})
	}
	return out
}

func (o *Objects) deployment(name string) *appsv1.Deployment {
	for _, d := range o.Deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// serviceOf returns the pbxhooks service a container runs, from its image
// (pbxhooks/<service>:<tag>), or "" for any other image.
func serviceOf(c corev1.Container) string {
	repo, _, _ := strings.Cut(c.Image, ":")
	svc, ok := strings.CutPrefix(repo, imageRepo)
	if !ok {
		return ""
	}
	return svc
}

// selects reports whether sel selects the pod template's labels.
func selects(sel *metav1.LabelSelector, podLabels map[string]string) (bool, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels)), nil
}

// CheckSelectors: every workload's selector matches its own template, every
// Service, PodDisruptionBudget and autoscaler finds its pods or target, and
// every Deployment has a PodDisruptionBudget.
func CheckSelectors(o *Objects) []error {
	var errs []error
	for _, w := range o.workloads() {
		if ok, err := selects(w.selector, w.template.Labels); err != nil || !ok {
			errs = append(errs, fmt.Errorf("%s %s: selector %v does not match its template's labels %v (%v)", w.kind, w.name, w.selector, w.template.Labels, err))
		}
	}
	for _, svc := range o.Services {
		var matched []workload
		for _, w := range o.workloads() {
			if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			errs = append(errs, fmt.Errorf("Service %s: selector %v matches no workload", svc.Name, svc.Spec.Selector))
			continue
		}
		for _, p := range svc.Spec.Ports {
			for _, w := range matched {
				if _, ok := containerPort(w.template.Spec.Containers, p.TargetPort); !ok {
					errs = append(errs, fmt.Errorf("Service %s: port %s targets %s, which %s %s does not expose", svc.Name, p.Name, p.TargetPort.String(), w.kind, w.name))
				}
			}
		}
	}
	for _, pdb := range o.PDBs {
		found := false
		for _, w := range o.workloads() {
			if ok, _ := selects(pdb.Spec.Selector, w.template.Labels); ok {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: selector matches no workload", pdb.Name))
		}
	}
	for _, d := range o.Deployments {
		covered := false
		for _, pdb := range o.PDBs {
			if ok, _ := selects(pdb.Spec.Selector, d.Spec.Template.Labels); ok {
				covered = true
			}
		}
		if !covered {
			errs = append(errs, fmt.Errorf("Deployment %s: no PodDisruptionBudget", d.Name))
		}
	}
	for _, h := range o.HPAs {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || o.deployment(h.Spec.ScaleTargetRef.Name) == nil {
			errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: target %s %s is not a Deployment here", h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name))
		}
	}
	for _, sm := range o.ServiceMonitors {
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			errs = append(errs, fmt.Errorf("ServiceMonitor %s: %w", sm.Name, err))
			continue
		}
		n := 0
		for _, svc := range o.Services {
			if !sel.Matches(labels.Set(svc.Labels)) {
				continue
			}
			n++
			for _, ep := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					errs = append(errs, fmt.Errorf("ServiceMonitor %s: Service %s has no port named %q", sm.Name, svc.Name, ep.Port))
				}
			}
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("ServiceMonitor %s: selects no Service", sm.Name))
		}
	}
	return errs
}

// containerPort resolves a probe's or Service's port (a name or a number)
// among the containers' ports.
func containerPort(containers []corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, c := range containers {
		for _, p := range c.Ports {
			if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

// CheckPortNames: port names the API server would refuse: a container's
// over 15 characters or not lower-case alphanumeric and dashes (IANA service
// names, since probes and Services refer to them), a Service's not a DNS
// label.
func CheckPortNames(o *Objects) []error {
	var errs []error
	for _, w := range o.workloads() {
		for _, c := range slices.Concat(w.template.Spec.InitContainers, w.template.Spec.Containers) {
			for _, p := range c.Ports {
				if p.Name == "" {
					continue
				}
				for _, msg := range validation.IsValidPortName(p.Name) {
					errs = append(errs, fmt.Errorf("%s %s: container %s port name %q: %s", w.kind, w.name, c.Name, p.Name, msg))
				}
			}
		}
	}
	for _, svc := range o.Services {
		for _, p := range svc.Spec.Ports {
			if p.Name == "" {
				continue
			}
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, fmt.Errorf("Service %s: port name %q: %s", svc.Name, p.Name, msg))
			}
		}
	}
	return errs
}

// env resolves a container's environment: its own variables and those of
// the ConfigMaps it takes whole. Values from Secrets are known by name only.
func (o *Objects) env(c corev1.Container) (map[string]string, []error) {
	vars := map[string]string{}
	var errs []error
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := o.ConfigMaps[from.ConfigMapRef.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("container %s: envFrom ConfigMap %s is not in the manifests", c.Name, from.ConfigMapRef.Name))
				continue
			}
			for k, v := range cm.Data {
				vars[from.Prefix+k] = v
			}
		default:
			// A whole Secret's keys cannot be seen here, so could not be
			// held to the service's variables.
			errs = append(errs, fmt.Errorf("container %s: envFrom other than a ConfigMap; name Secret keys one by one", c.Name))
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Env {
		if seen[e.Name] {
			// The API server refuses a server-side apply that names one
			// variable twice.
			errs = append(errs, fmt.Errorf("container %s: %s is set twice", c.Name, e.Name))
		}
		seen[e.Name] = true
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := o.ConfigMaps[ref.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("container %s: %s: ConfigMap %s is not in the manifests", c.Name, e.Name, ref.Name))
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				errs = append(errs, fmt.Errorf("container %s: %s: ConfigMap %s has no key %s", c.Name, e.Name, ref.Name, ref.Key))
			}
			vars[e.Name] = v
		default:
			vars[e.Name] = ""
		}
	}
	return vars, errs
}

// CheckEnv: every variable a pbxhooks container is given is one its
// service reads (config.Variables), and every ConfigMap it names exists.
func CheckEnv(o *Objects) []error {
	var errs []error
	for _, w := range o.workloads() {
		for _, c := range slices.Concat(w.template.Spec.InitContainers, w.template.Spec.Containers) {
			svc := serviceOf(c)
			if svc == "" {
				continue
			}
			known := config.Variables(svc)
			if known == nil {
				errs = append(errs, fmt.Errorf("%s %s: container %s runs %s, which config.Variables does not know", w.kind, w.name, c.Name, c.Image))
				continue
			}
			vars, envErrs := o.env(c)
			for _, err := range envErrs {
				errs = append(errs, fmt.Errorf("%s %s: %w", w.kind, w.name, err))
			}
			for name := range vars {
				if !slices.Contains(known, name) {
					errs = append(errs, fmt.Errorf("%s %s: container %s sets %s, which %s does not read", w.kind, w.name, c.Name, name, svc))
				}
			}
		}
	}
	return errs
}

// listenAddrVar reports whether name is a service's listen address, the one
// its probes and /metrics are served on (API_HTTP_ADDR, INGEST_HTTP_ADDR,
// <SERVICE>_HEALTH_ADDR); other addresses, such as the PBX a connector
// dials (CONNECTOR_ADDR) or the optional PPROF_ADDR, are not.
func listenAddrVar(name string) bool {
	return strings.HasSuffix(name, "_HTTP_ADDR") || strings.HasSuffix(name, "_HEALTH_ADDR")
}

// CheckProbes: each pbxhooks container has startup and liveness probes on
// /healthz and a readiness probe on /readyz, on the port the container
// exposes and the service listens on, on every interface.
func CheckProbes(o *Objects) []error {
	var errs []error
	for _, d := range o.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if serviceOf(c) == "" {
				continue
			}
			where := fmt.Sprintf("Deployment %s container %s", d.Name, c.Name)
			vars, _ := o.env(c)
			var listen []string
			for name := range vars {
				if listenAddrVar(name) {
					listen = append(listen, name)
				}
			}
			if len(listen) != 1 {
				errs = append(errs, fmt.Errorf("%s: want one listen address variable, have %v", where, listen))
				continue
			}
			host, portText, err := net.SplitHostPort(vars[listen[0]])
			if err != nil || host != "0.0.0.0" {
				errs = append(errs, fmt.Errorf("%s: %s=%q must be 0.0.0.0:<port>, reachable by the kubelet and the Service", where, listen[0], vars[listen[0]]))
				continue
			}
			listenPort, _ := strconv.Atoi(portText)
			for _, p := range []struct {
				kind  string
				probe *corev1.Probe
				path  string
			}{
				{"startup", c.StartupProbe, "/healthz"},
				{"liveness", c.LivenessProbe, "/healthz"},
				{"readiness", c.ReadinessProbe, "/readyz"},
			} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					errs = append(errs, fmt.Errorf("%s: no HTTP %s probe", where, p.kind))
					continue
				}
				if p.probe.HTTPGet.Path != p.path {
					errs = append(errs, fmt.Errorf("%s: %s probe asks %s, want %s", where, p.kind, p.probe.HTTPGet.Path, p.path))
				}
				port, ok := containerPort([]corev1.Container{c}, p.probe.HTTPGet.Port)
				if !ok {
					errs = append(errs, fmt.Errorf("%s: %s probe port %s is not a port of the container", where, p.kind, p.probe.HTTPGet.Port.String()))
					continue
				}
				if int(port) != listenPort {
					errs = append(errs, fmt.Errorf("%s: %s probe goes to port %d but %s listens on %d", where, p.kind, port, listen[0], listenPort))
				}
			}
		}
	}
	return errs
}

// CheckGracePeriod: a pod's grace period outlasts its preStop pause plus the
// drain SHUTDOWN_TIMEOUT allows, so the kubelet never kills a drain midway.
func CheckGracePeriod(o *Objects) []error {
	var errs []error
	for _, w := range o.workloads() {
		spec := w.template.Spec
		if spec.TerminationGracePeriodSeconds == nil {
			errs = append(errs, fmt.Errorf("%s %s: no terminationGracePeriodSeconds", w.kind, w.name))
			continue
		}
		grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		for _, c := range spec.Containers {
			if serviceOf(c) == "" {
				continue
			}
			vars, _ := o.env(c)
			shutdown := config.DefaultShutdownTimeout
			if v, ok := vars["SHUTDOWN_TIMEOUT"]; ok {
				d, err := time.ParseDuration(v)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s: SHUTDOWN_TIMEOUT=%q: %w", w.kind, w.name, v, err))
					continue
				}
				shutdown = d
			}
			var pause time.Duration
			if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil {
				errs = append(errs, fmt.Errorf("%s %s: container %s has no preStop sleep", w.kind, w.name, c.Name))
			} else {
				pause = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
			}
			if grace <= pause+shutdown {
				errs = append(errs, fmt.Errorf("%s %s: terminationGracePeriodSeconds %s does not exceed the preStop pause %s plus SHUTDOWN_TIMEOUT %s", w.kind, w.name, grace, pause, shutdown))
			}
		}
	}
	return errs
}

// consumers is the durable consumer each queue worker reads, as its code
// declares it (matcher: internal/fanout; deliverer: internal/deliver).
var consumers = map[string]struct{ stream, consumer string }{
	"matcher":   {bus.StreamEvents, bus.ConsumerMatcher},
	"deliverer": {bus.StreamDeliveries, bus.ConsumerDeliverer},
}

// CheckScaledObjects: KEDA watches the stream and durable consumer the
// target really reads, cannot scale without bound or to zero, falls back
// to a fixed count when it cannot read the lag, and owns the Deployment's
// replica count alone.
func CheckScaledObjects(o *Objects) []error {
	var errs []error
	for _, so := range o.ScaledObjects {
		where := "ScaledObject " + so.Name
		d := o.deployment(so.TargetName)
		if d == nil {
			errs = append(errs, fmt.Errorf("%s: target Deployment %s is not here", where, so.TargetName))
			continue
		}
		if d.Spec.Replicas != nil {
			errs = append(errs, fmt.Errorf("%s: Deployment %s still sets replicas, which a re-apply would reset under KEDA", where, d.Name))
		}
		want, ok := consumers[so.TargetName]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s reads no known consumer", where, so.TargetName))
			continue
		}
		if len(so.Triggers) != 1 || so.Triggers[0].Type != "nats-jetstream" {
			errs = append(errs, fmt.Errorf("%s: want one nats-jetstream trigger, have %v", where, so.Triggers))
			continue
		}
		md := so.Triggers[0].Metadata
		if md["stream"] != want.stream || md["consumer"] != want.consumer {
			errs = append(errs, fmt.Errorf("%s: watches %s/%s, but %s consumes %s/%s", where, md["stream"], md["consumer"], so.TargetName, want.stream, want.consumer))
		}
		if md["natsServerMonitoringEndpoint"] == "" {
			errs = append(errs, fmt.Errorf("%s: no natsServerMonitoringEndpoint", where))
		}
		if so.MinReplicas == nil || *so.MinReplicas < 1 {
			errs = append(errs, fmt.Errorf("%s: minReplicaCount must be at least 1: the service creates its consumer, so a scale to zero could never see it again", where))
		}
		if so.MaxReplicas == nil {
			errs = append(errs, fmt.Errorf("%s: no maxReplicaCount", where))
		}
		if so.FallbackFailed == nil || so.FallbackCount == nil {
			errs = append(errs, fmt.Errorf("%s: no fallback: a missing consumer would leave the count to the last metric", where))
		} else if so.MaxReplicas != nil && *so.FallbackCount > *so.MaxReplicas {
			errs = append(errs, fmt.Errorf("%s: fallback replicas %d exceed maxReplicaCount %d", where, *so.FallbackCount, *so.MaxReplicas))
		}
	}
	return errs
}

// CheckImages: every image names a tag (not latest) or a digest, so a
// rollout is a change of manifest.
func CheckImages(o *Objects) []error {
	var errs []error
	for _, w := range o.workloads() {
		for _, c := range slices.Concat(w.template.Spec.InitContainers, w.template.Spec.Containers) {
			if strings.Contains(c.Image, "@sha256:") {
				continue
			}
			name := c.Image[strings.LastIndex(c.Image, "/")+1:]
			_, tag, ok := strings.Cut(name, ":")
			if !ok || tag == "" || tag == "latest" {
				errs = append(errs, fmt.Errorf("%s %s: container %s image %q has no tag", w.kind, w.name, c.Name, c.Image))
			}
		}
	}
	return errs
}

// CheckHardening: pods run as uid 10001, non-root, under the runtime's
// seccomp profile; containers cannot escalate, have no capabilities, a
// read-only root and bounded resources; Deployments spread over nodes and
// zones.
func CheckHardening(o *Objects) []error {
	var errs []error
	for _, w := range o.workloads() {
		where := w.kind + " " + w.name
		psc := w.template.Spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != PodRunAsUser ||
			psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			errs = append(errs, fmt.Errorf("%s: pod must run as non-root uid %d with seccomp RuntimeDefault", where, PodRunAsUser))
		}
		for _, c := range slices.Concat(w.template.Spec.InitContainers, w.template.Spec.Containers) {
			sc := c.SecurityContext
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				errs = append(errs, fmt.Errorf("%s: container %s must drop ALL capabilities, not escalate, and have a read-only root", where, c.Name))
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[res]; !ok {
					errs = append(errs, fmt.Errorf("%s: container %s requests no %s", where, c.Name, res))
				}
				if _, ok := c.Resources.Limits[res]; !ok {
					errs = append(errs, fmt.Errorf("%s: container %s has no %s limit", where, c.Name, res))
				}
			}
		}
		if w.kind == "Deployment" {
			keys := map[string]bool{}
			for _, tsc := range w.template.Spec.TopologySpreadConstraints {
				if ok, _ := selects(tsc.LabelSelector, w.template.Labels); ok {
					keys[tsc.TopologyKey] = true
				}
			}
			if !keys[corev1.LabelHostname] || !keys[corev1.LabelTopologyZone] {
				errs = append(errs, fmt.Errorf("%s: pods must spread over %s and %s", where, corev1.LabelHostname, corev1.LabelTopologyZone))
			}
		}
	}
	return errs
}

// CheckCPUAutoscaling: the HTTP services, api and ingest, scale on CPU.
func CheckCPUAutoscaling(o *Objects) []error {
	var errs []error
	for _, name := range []string{"api", "ingest"} {
		found := false
		for _, h := range o.HPAs {
			if h.Spec.ScaleTargetRef.Name != name {
				continue
			}
			for _, m := range h.Spec.Metrics {
				if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
					found = true
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("Deployment %s: no HorizontalPodAutoscaler on CPU", name))
		}
	}
	return errs
}

// CheckDelivererEgress: where network policies are deployed, the deliverer
// reaches everything but the ranges pkg/netguard refuses: each refused
// range is excepted, and nothing the guard allows is.
func CheckDelivererEgress(o *Objects) []error {
	if len(o.NetworkPolicies) == 0 {
		return nil
	}
	d := o.deployment("deliverer")
	if d == nil {
		return []error{fmt.Errorf("no deliverer Deployment")}
	}
	var except []netip.Prefix
	var errs []error
	for _, np := range o.NetworkPolicies {
		if ok, _ := selects(&np.Spec.PodSelector, d.Spec.Template.Labels); !ok {
			continue
		}
		for _, rule := range np.Spec.Egress {
			for _, peer := range rule.To {
				if peer.IPBlock == nil || len(rule.Ports) > 0 {
					continue
				}
				cidr, err := netip.ParsePrefix(peer.IPBlock.CIDR)
				if err != nil || cidr.Bits() != 0 {
					errs = append(errs, fmt.Errorf("NetworkPolicy %s: deliverer egress %s: want 0.0.0.0/0 or ::/0 less the blocked ranges", np.Name, peer.IPBlock.CIDR))
					continue
				}
				for _, e := range peer.IPBlock.Except {
					p, err := netip.ParsePrefix(e)
					if err != nil {
						errs = append(errs, fmt.Errorf("NetworkPolicy %s: except %q: %w", np.Name, e, err))
						continue
					}
					if p.Addr().Is4In6() {
						errs = append(errs, fmt.Errorf("NetworkPolicy %s: except %s: the API server refuses IPv4-mapped ranges", np.Name, e))
					}
					except = append(except, p)
				}
			}
		}
	}
	if len(except) == 0 {
		return append(errs, fmt.Errorf("no network policy lets the deliverer reach the internet less the blocked ranges"))
	}
	blocked := netguard.BlockedPrefixes()
	for _, b := range blocked {
		if b == ipv4Mapped {
			// A connection to ::ffff:a.b.c.d leaves as IPv4 to a.b.c.d,
			// which the IPv4 block limits.
			continue
		}
		if !slices.ContainsFunc(except, func(e netip.Prefix) bool { return e.Bits() <= b.Bits() && e.Contains(b.Addr()) }) {
			errs = append(errs, fmt.Errorf("deliverer egress allows %s, which pkg/netguard refuses", b))
		}
	}
	for _, e := range except {
		if !slices.ContainsFunc(blocked, func(b netip.Prefix) bool { return b.Bits() <= e.Bits() && b.Contains(e.Addr()) }) {
			errs = append(errs, fmt.Errorf("deliverer egress refuses %s, which pkg/netguard allows", e))
		}
	}
	return errs
}

// ipv4Mapped is ::ffff:0:0/96, the IPv6 form of IPv4 addresses.
var ipv4Mapped = netip.MustParsePrefix("::ffff:0:0/96")

// All runs every check.
func All(o *Objects) []error {
	return slices.Concat(CheckSelectors(o), CheckPortNames(o), CheckEnv(o), CheckProbes(o),
		CheckGracePeriod(o), CheckScaledObjects(o), CheckImages(o), CheckHardening(o),
		CheckCPUAutoscaling(o), CheckDelivererEgress(o))
}
