package check

import (
	"encoding/json"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/resmap"
)

// ScaledObject is the part of a KEDA ScaledObject (keda.sh/v1alpha1) the
// checks read. KEDA's own Go types would bring its whole dependency tree, so
// the rest of its schema is left to `make k8s-check`, where the API server
// validates the object against KEDA's CRD.
type ScaledObject struct {
	Name           string
	TargetName     string
	MinReplicas    *int64
	MaxReplicas    *int64
	FallbackFailed *int64
	FallbackCount  *int64
	Triggers       []ScaledObjectTrigger
}

// ScaledObjectTrigger is one of a ScaledObject's triggers.
type ScaledObjectTrigger struct {
	Type     string
	Metadata map[string]string
}

// Objects is one rendered variant, each object decoded into its Go type.
type Objects struct {
	Namespaces      []*corev1.Namespace
	ConfigMaps      map[string]*corev1.ConfigMap
	Services        []*corev1.Service
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	PVCs            []*corev1.PersistentVolumeClaim
	PDBs            []*policyv1.PodDisruptionBudget
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	NetworkPolicies []*networkingv1.NetworkPolicy
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PrometheusRules []*monitoringv1.PrometheusRule
	ScaledObjects   []*ScaledObject
}

// strictDecoder decodes the built-in kinds and prometheus-operator's, and
// fails on a field its type does not have (or has twice).
var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(fmt.Sprintf("build the decoding scheme: %v", err))
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// DecodeStrict decodes one object given as JSON or YAML.
func DecodeStrict(data []byte) (runtime.Object, error) {
	obj, _, err := strictDecoder.Decode(data, nil, nil)
	return obj, err
}

// Decode decodes every object of m; a kind it does not know is an error.
func Decode(m resmap.ResMap) (*Objects, error) {
	o := &Objects{ConfigMaps: map[string]*corev1.ConfigMap{}}
	for _, res := range m.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", res.CurId(), err)
		}
		if res.GetKind() == "ScaledObject" && res.GetApiVersion() == "keda.sh/v1alpha1" {
			so, err := decodeScaledObject(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", res.CurId(), err)
			}
			o.ScaledObjects = append(o.ScaledObjects, so)
			continue
		}
		obj, err := DecodeStrict(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", res.CurId(), err)
		}
		switch obj := obj.(type) {
		case *corev1.Namespace:
			o.Namespaces = append(o.Namespaces, obj)
		case *corev1.ConfigMap:
			o.ConfigMaps[obj.Name] = obj
		case *corev1.Service:
			o.Services = append(o.Services, obj)
		case *appsv1.Deployment:
			o.Deployments = append(o.Deployments, obj)
		case *appsv1.StatefulSet:
			o.StatefulSets = append(o.StatefulSets, obj)
		case *corev1.PersistentVolumeClaim:
			o.PVCs = append(o.PVCs, obj)
		case *policyv1.PodDisruptionBudget:
			o.PDBs = append(o.PDBs, obj)
		case *autoscalingv2.HorizontalPodAutoscaler:
			o.HPAs = append(o.HPAs, obj)
		case *networkingv1.NetworkPolicy:
			o.NetworkPolicies = append(o.NetworkPolicies, obj)
		case *monitoringv1.ServiceMonitor:
			o.ServiceMonitors = append(o.ServiceMonitors, obj)
		case *monitoringv1.PrometheusRule:
			o.PrometheusRules = append(o.PrometheusRules, obj)
		default:
			return nil, fmt.Errorf("%s: no check knows the kind %T", res.CurId(), obj)
		}
	}
	return o, nil
}

func decodeScaledObject(data []byte) (*ScaledObject, error) {
	var raw struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			ScaleTargetRef struct {
				Name string `json:"name"`
			} `json:"scaleTargetRef"`
			MinReplicaCount *int64 `json:"minReplicaCount"`
			MaxReplicaCount *int64 `json:"maxReplicaCount"`
			Fallback        *struct {
				FailureThreshold *int64 `json:"failureThreshold"`
				Replicas         *int64 `json:"replicas"`
			} `json:"fallback"`
			Triggers []struct {
				Type     string            `json:"type"`
				Metadata map[string]string `json:"metadata"`
			} `json:"triggers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode ScaledObject: %w", err)
	}
	so := &ScaledObject{
		Name:        raw.Metadata.Name,
		TargetName:  raw.Spec.ScaleTargetRef.Name,
		MinReplicas: raw.Spec.MinReplicaCount,
		MaxReplicas: raw.Spec.MaxReplicaCount,
	}
	if f := raw.Spec.Fallback; f != nil {
		so.FallbackFailed, so.FallbackCount = f.FailureThreshold, f.Replicas
	}
	for _, t := range raw.Spec.Triggers {
		so.Triggers = append(so.Triggers, ScaledObjectTrigger{Type: t.Type, Metadata: t.Metadata})
	}
	return so, nil
}
