# Sourced by benches: an nginx that answers STS AssumeRole and the sign-in
# endpoint's getSigninToken instantly with canned bodies (moto caps a grant
# at ~50/s, so our own cost is measured against this), and counts accepted
# connections (stub_status). Sets: stub_port, stub_pid; stub_accepts prints
# the number of connections accepted so far. Requires: demo.
stub_port=$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$demo/nginx"
cat >"$demo/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $demo/nginx/nginx.pid;
error_log $demo/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $demo/nginx/body;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$stub_port;
    # STS: every AssumeRole (hop 1 and hop 2) gets the same role credentials.
    location = / {
      default_type text/xml;
      return 200 '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/PamTarget/alice@example.com</Arn><AssumedRoleId>AROA3XFRBF535PLBIFPI4:alice@example.com</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>ASIASTUBSTUBSTUBSTUB</AccessKeyId><SecretAccessKey>stubstubstubstubstubstubstubstubstubstub</SecretAccessKey><SessionToken>STUBTOKENSTUBTOKENSTUBTOKENSTUBTOKEN</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></AssumeRoleResponse>';
    }
    location = /federation {
      default_type application/json;
      return 200 '{"SigninToken":"stub-signin-token"}';
    }
    location = /nginx-status { stub_status; }
  }
}
NGINX
nginx -c "$demo/nginx/nginx.conf" -e "$demo/nginx/error.log" &
stub_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$stub_port") 2>/dev/null && break; sleep 0.05; done
# "Active connections: N \n server accepts handled requests \n A H R": A.
stub_accepts() { curl -s "http://127.0.0.1:$stub_port/nginx-status" | awk 'NR==3 {print $1}'; }
