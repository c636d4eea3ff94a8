package check

import (
	"slices"
	"testing"
)

// TestConnectorComponent: with the component, exactly one connector pod at
// a time (a StatefulSet of one: a second connector would forward every
// event again) with its spool on a claim of its own; without it, none.
func TestConnectorComponent(t *testing.T) {
	t.Parallel()
	for _, v := range Variants() {
		o := objects(t, v)
		var found int
		for _, s := range o.StatefulSets {
			if s.Name != "connector-freeswitch" {
				continue
			}
			found++
			if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
				t.Errorf("%s: connector replicas %v, want exactly 1", v.Name(), s.Spec.Replicas)
			}
			if len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "spool" {
				t.Errorf("%s: the connector's spool needs a volume claim of its own", v.Name())
			}
			vars, errs := o.env(s.Spec.Template.Spec.Containers[0])
			if len(errs) > 0 || vars["CONNECTOR_SPOOL_DIR"] != "/var/lib/pbxhooks-connector" || vars["CONNECTOR_PBX"] != "freeswitch" {
				t.Errorf("%s: connector env %v %v", v.Name(), vars, errs)
			}
		}
		if want := slices.Contains(v.Components, "connector-freeswitch"); want != (found == 1) {
			t.Errorf("%s: %d connector StatefulSets", v.Name(), found)
		}
	}
}
