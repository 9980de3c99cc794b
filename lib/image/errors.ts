// The one error the image writers throw for something a user can act on: the path (or option) it
// is about and the problem, as one line.

import { PathError } from "../errors.js";

export class ImageError extends PathError {
  override readonly name = "ImageError";
}
