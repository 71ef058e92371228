/* Status codes returned by every edgematte C kernel (0 = success). */
#ifndef EM_STATUS_H
#define EM_STATUS_H

#define EM_OK 0
#define EM_ERR_ARG 1      /* invalid size, stride or parameter (the Python wrapper validates first) */
#define EM_ERR_NOMEM 2    /* a work buffer could not be allocated */
#define EM_ERR_RANGE 3    /* a float input holds NaN or a value outside [0, 1] */

#endif
