/**
 * What each job of a recipe asks of a cluster (issue 33; `am-distill jobs`, docs/cluster.md): the
 * recipe's top-level `resources` section. It changes no output (no config hash), only the Slurm
 * and Kubernetes requests.
 *
 *   resources:
 *     default: {cpus: 2, memoryGb: 4, timeMinutes: 120}
 *     stages:
 *       train: {cpus: 4, memoryGb: 8, gpus: 1}      # the net stages where a GPU helps
 *       distill: {cpus: 4, memoryGb: 8, gpus: 1}
 */
import type { ObjectSpec } from '../stages/schema.ts';

export interface JobResources {
  cpus: number;
  memoryGb: number;
  gpus: number;
  timeMinutes: number;
}

export interface ResourcesSection {
  default: Partial<JobResources>;
  stages: Record<string, Partial<JobResources>>;
}

/** Without a `resources` section: one core, 4 GB, no GPU, 4 hours per job. */
export const DEFAULT_JOB_RESOURCES: Readonly<JobResources> = Object.freeze({
  cpus: 1,
  memoryGb: 4,
  gpus: 0,
  timeMinutes: 240,
});

const REQUEST: ObjectSpec = {
  type: 'object',
  doc: 'requests of one job',
  fields: {
    cpus: {
      type: 'number',
      integer: true,
      min: 1,
      optional: true,
      doc: 'CPU cores (Slurm --cpus-per-task, Kubernetes cpu)',
    },
    memoryGb: { type: 'number', min: 0.1, optional: true, unit: 'GB', doc: 'memory (Slurm --mem, Kubernetes memory)' },
    gpus: {
      type: 'number',
      integer: true,
      min: 0,
      optional: true,
      doc: 'GPUs (Slurm --gres=gpu:N, Kubernetes nvidia.com/gpu)',
    },
    timeMinutes: {
      type: 'number',
      integer: true,
      min: 1,
      optional: true,
      unit: 'minutes',
      doc: 'wall-time limit (Slurm --time, Kubernetes activeDeadlineSeconds)',
    },
  },
};

/** The recipe's `resources` key (TOP_LEVEL in ./recipe.ts). */
export const RESOURCES_SPEC: ObjectSpec = {
  type: 'object',
  optional: true,
  doc: 'what each job asks of a cluster (am-distill jobs: Slurm and Kubernetes requests); changes no output',
  fields: {
    default: {
      ...REQUEST,
      optional: true,
      doc: 'requests of every job (1 CPU, 4 GB, no GPU, 240 minutes where not given)',
    },
    stages: { type: 'map', values: REQUEST, optional: true, doc: 'per stage name, requests over the default' },
  },
};

/** The requests of a stage's jobs: the stage's over the recipe's default over DEFAULT_JOB_RESOURCES. */
export function stageResources(section: Partial<ResourcesSection> | null | undefined, stage: string): JobResources {
  return { ...DEFAULT_JOB_RESOURCES, ...(section?.default ?? {}), ...(section?.stages?.[stage] ?? {}) };
}
