// deploy/k8s checked against the config and each other (tests/integration/k8s-schemas.test.ts checks
// them against the Kubernetes schemas).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { projectRoot } from '../../config';

interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args: string[];
  ports: Array<{ name: string; containerPort: number }>;
  env: Array<{ name: string; value: string }>;
  envFrom: Array<{ secretRef?: { name: string } }>;
  resources: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: Container[];
  initContainers?: Container[];
  volumes: Array<{ name: string; configMap?: { name: string } }>;
  nodeSelector?: Record<string, string>;
  tolerations?: Array<{ key: string; operator: string; effect: string }>;
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean };
}
// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, narrowed per kind below
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [key: string]: any };

const root = projectRoot();
const k8sDir = path.join(root, 'deploy', 'k8s');
const settings = parseYaml(readFileSync(path.join(root, 'config.yaml'), 'utf8'));

const manifests: Manifest[] = readdirSync(k8sDir, { recursive: true })
  .map(String)
  .filter((file) => file.endsWith('.yaml'))
  .flatMap((file) => parseAllDocuments(readFileSync(path.join(k8sDir, file), 'utf8')).map((doc) => doc.toJS() as Manifest));

const find = (kind: string, name: string): Manifest => {
  const manifest = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(manifest, `no ${kind} ${name} in deploy/k8s`);
  return manifest;
};
const podSpec = (name: string): PodSpec => find('Deployment', name).spec.template.spec;
const container = (name: string): Container => podSpec(name).containers[0];

/** Each Deployment, its command and the port its process serves from config.yaml. */
const PROCESSES = {
  'fraudops-api': { args: ['serve'], port: settings.serving.port },
  'fraudops-worker-cpu': { args: ['worker', 'cpu'], port: settings.pipeline.workerMetricsPorts.cpu },
  'fraudops-worker-gpu': { args: ['worker', 'gpu'], port: settings.pipeline.workerMetricsPorts.gpu },
  'fraudops-scorer': { args: ['score-stream'], port: settings.stream.metricsPort },
  'fraudops-quality-monitor': { args: ['quality-monitor'], port: settings.quality.metricsPort },
};

describe('deploy/k8s', () => {
  it('runs each process with its command, port and resource requests', () => {
    for (const [name, { args, port }] of Object.entries(PROCESSES)) {
      const main = container(name);
      assert.deepEqual(main.args, args, `${name} args`);
      assert.deepEqual(
        main.ports.map((p) => p.containerPort),
        [port],
        `${name} port`,
      );
      assert.ok(main.resources.requests?.cpu && main.resources.requests?.memory, `${name} requests cpu and memory`);
      assert.ok(main.resources.limits?.memory, `${name} limits memory`);
    }
  });

  it('gives every pod the config and secrets of the containers and the full shutdown grace', () => {
    for (const name of Object.keys(PROCESSES)) {
      const spec = podSpec(name);
      const main = spec.containers[0];
      assert.ok(spec.terminationGracePeriodSeconds > settings.pipeline.shutdownGraceSeconds, `${name} terminationGracePeriodSeconds`);
      assert.deepEqual(
        main.env.find((e) => e.name === 'FRAUDOPS_CONFIG'),
        { name: 'FRAUDOPS_CONFIG', value: '/etc/fraudops/config.yaml' },
      );
      const configVolume = spec.volumes.find((v) => v.configMap?.name === 'fraudops-config');
      assert.ok(configVolume, `${name} mounts the ConfigMap`);
      assert.ok(main.volumeMounts.some((m) => m.name === configVolume.name && m.mountPath === '/etc/fraudops'));
      assert.ok(
        main.envFrom.some((source) => source.secretRef?.name === 'fraudops-secrets'),
        `${name} secrets`,
      );
    }
  });

  it('probes the API on /health (alive) and /ready (a verified model), on its port', () => {
    const api = container('fraudops-api');
    const portName = api.ports[0].name;
    assert.deepEqual(api.livenessProbe?.httpGet, { path: '/health', port: portName });
    assert.deepEqual(api.startupProbe?.httpGet, { path: '/health', port: portName });
    assert.deepEqual(api.readinessProbe?.httpGet, { path: '/ready', port: portName });
    for (const name of ['fraudops-worker-cpu', 'fraudops-worker-gpu', 'fraudops-scorer']) {
      assert.equal(container(name).livenessProbe?.httpGet.path, '/metrics', `${name} liveness`);
    }
  });

  it('creates or updates the daily retraining schedule whenever a CPU worker starts', () => {
    const init = podSpec('fraudops-worker-cpu').initContainers?.find((c) => c.args.join(' ') === 'schedule create');
    assert.ok(init, 'an init container runs `schedule create`');
    assert.equal(init.image, container('fraudops-worker-cpu').image);
    assert.ok(
      init.volumeMounts.some((m) => m.mountPath === '/etc/fraudops'),
      'it reads the same config',
    );
  });

  it('scales the API with an autoscaling/v2 HPA on CPU, from at least two replicas', () => {
    const hpa = find('HorizontalPodAutoscaler', 'fraudops-api');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'fraudops-api' });
    assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
    assert.equal(hpa.spec.metrics[0].resource.name, 'cpu');
  });

  it('puts the GPU worker on a GPU node with pipeline.gpus NVIDIA GPUs, from the GPU image', () => {
    const spec = podSpec('fraudops-worker-gpu');
    const { requests, limits } = spec.containers[0].resources;
    assert.equal(requests?.['nvidia.com/gpu'], settings.pipeline.gpus);
    assert.equal(limits?.['nvidia.com/gpu'], settings.pipeline.gpus);
    assert.ok(Object.keys(spec.nodeSelector ?? {}).length, 'a node selector');
    assert.ok(spec.tolerations?.some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'));
    assert.notEqual(spec.containers[0].image, container('fraudops-worker-cpu').image);
    assert.ok(!spec.containers[0].args.includes('--allow-cpu'), 'without a GPU the worker exits: no --allow-cpu');
    // The gpu target of deploy/app/Dockerfile runs as uid 1000 (USER 1000:1000), as the pod asks.
    const dockerfile = readFileSync(path.join(root, 'deploy', 'app', 'Dockerfile'), 'utf8');
    const gpuTarget = dockerfile.slice(dockerfile.search(/^FROM \S+ AS gpu$/m)).split(/^FROM /m)[1];
    assert.match(gpuTarget, new RegExp(`^USER ${spec.securityContext?.runAsUser}:`, 'm'));
    for (const name of ['fraudops-api', 'fraudops-worker-cpu', 'fraudops-scorer']) {
      assert.equal(container(name).resources.limits?.['nvidia.com/gpu'], undefined, `${name} takes no GPU`);
    }
  });

  it('has a Service per process that selects its pods and targets a named port', () => {
    for (const name of Object.keys(PROCESSES)) {
      const service = find('Service', name);
      const deployment = find('Deployment', name);
      const podLabels = deployment.spec.template.metadata.labels;
      assert.deepEqual(deployment.spec.selector.matchLabels, podLabels, `${name} selector`);
      for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(podLabels[key], value, `${name} Service selector`);
      const portNames = deployment.spec.template.spec.containers[0].ports.map((p: { name: string }) => p.name);
      for (const port of service.spec.ports) assert.ok(portNames.includes(port.targetPort), `${name} targetPort ${port.targetPort}`);
    }
  });

  it('runs MLflow on a PostgreSQL backend store, its URI and password from a Secret template of placeholders', () => {
    const mlflow = container('mlflow');
    assert.ok(!mlflow.args.some((arg) => /backend-store-uri|sqlite/.test(arg)), 'no SQLite store');
    const uri = mlflow.env.find((e) => e.name === 'MLFLOW_BACKEND_STORE_URI') as unknown as {
      valueFrom: { secretKeyRef: { name: string; key: string } };
    };
    assert.deepEqual(uri.valueFrom.secretKeyRef, { name: 'fraudops-mlflow-db', key: 'uri' });
    assert.deepEqual(
      find('Service', 'mlflow').spec.ports.map((p: { port: number }) => p.port),
      [settings.stack.mlflow.port],
    );
    const postgresql = find('StatefulSet', 'mlflow-postgresql');
    assert.ok(postgresql.spec.volumeClaimTemplates?.length, 'its data on a PersistentVolumeClaim');
    assert.equal(find('Service', 'mlflow-postgresql').spec.ports[0].port, 5432);
    const secret = find('Secret', 'fraudops-mlflow-db');
    assert.match(secret.stringData.password, /^CHANGE-ME-/);
    assert.match(secret.stringData.uri, /^postgresql:\/\/mlflow:CHANGE-ME-[^@]+@mlflow-postgresql:5432\/mlflow$/);
  });

  it('has a Secret template with placeholder values only, for exactly the secrets the app reads', () => {
    const secret = find('Secret', 'fraudops-secrets');
    const compose = parseYaml(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
    const appSecrets = Object.keys(compose.services.api.environment).filter((key) => key !== 'FRAUDOPS_CONFIG');
    assert.deepEqual(Object.keys(secret.stringData).sort(), appSecrets.sort());
    for (const [key, value] of Object.entries(secret.stringData)) assert.match(String(value), /^CHANGE-ME-/, key);
  });
});
