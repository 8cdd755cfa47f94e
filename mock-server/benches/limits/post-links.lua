-- wrk: POST /api/links/ with one INSS body (a 428 with --mfa always, a 201 with --mfa never).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"institution":"inss_br_employment","username":"529.982.247-25","password":"bench-password"}'
