// The workflows the fraud-pipeline task queue runs (the worker bundles this file).
export { trainingPipeline } from './training-pipeline';
export { tuningSearch } from './tuning';
