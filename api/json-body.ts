// The one JSON body parser of the API: refuses other content types (415), parses up to a size limit (413 beyond),
// and accepts any JSON value so that validation, not the parser, says what the body should have been.
import express, { type RequestHandler } from 'express';
import { RequestError } from './errors';

export function jsonBody(limitKb: number): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (!req.is('application/json')) {
      throw new RequestError(415, 'unsupported-media-type', 'the body must be JSON with Content-Type: application/json');
    }
    next();
  };
  return [requireJson, express.json({ limit: `${limitKb}kb`, strict: false })];
}
