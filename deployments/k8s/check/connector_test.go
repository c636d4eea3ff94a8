package check

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestConnectorComponent: with the component, one Deployment per PBX that
// never runs two connector pods at once (one replica, Recreate: a second
// connector would forward every event again), with its spool on a claim of
// its own; without it, none.
func TestConnectorComponent(t *testing.T) {
	t.Parallel()
	for _, v := range Variants() {
		o := objects(t, v)
		var found int
		for _, d := range o.Deployments {
			if d.Name != "connector-freeswitch" {
				continue
			}
			found++
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("%s: connector replicas %v, want exactly 1", v.Name(), d.Spec.Replicas)
			}
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("%s: connector strategy %q, want Recreate (a rolling update runs two connectors on one PBX)", v.Name(), d.Spec.Strategy.Type)
			}
			claim := ""
			for _, vol := range d.Spec.Template.Spec.Volumes {
				if vol.Name == "spool" && vol.PersistentVolumeClaim != nil {
					claim = vol.PersistentVolumeClaim.ClaimName
				}
			}
			if claim == "" || !slices.ContainsFunc(o.PVCs, func(p *corev1.PersistentVolumeClaim) bool { return p.Name == claim }) {
				t.Errorf("%s: the connector's spool needs a volume claim of its own, have %q", v.Name(), claim)
			}
			vars, errs := o.env(d.Spec.Template.Spec.Containers[0])
			if len(errs) > 0 || vars["CONNECTOR_SPOOL_DIR"] != "/var/lib/pbxhooks-connector" || vars["CONNECTOR_PBX"] != "freeswitch" {
				t.Errorf("%s: connector env %v %v", v.Name(), vars, errs)
			}
		}
		if want := slices.Contains(v.Components, "connector-freeswitch"); want != (found == 1) {
			t.Errorf("%s: %d connector Deployments", v.Name(), found)
		}
	}
}
